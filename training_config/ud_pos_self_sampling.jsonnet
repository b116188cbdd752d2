// Stage 2 of early exit for UD part-of-speech tagging: self-sampling fine-tuning of a tagger trained with
// ud_pos.jsonnet (see lib/self_sampling.libsonnet). Environment variables: INITIAL_ARCHIVE (required: the stage-1
// model.tar.gz), TRANSFORMER_MODEL (must be the stage-1 encoder; the same default), TRAIN_DATA, DEV_DATA, TEST_DATA,
// NUM_EPOCHS, BATCH_SIZE, SEED, CUDA_DEVICE as for ud_pos.jsonnet.
local lib = import 'lib/sledgehammer.libsonnet';
local self_sampling = import 'lib/self_sampling.libsonnet';
local tagging = import 'lib/tagging.libsonnet';

self_sampling.stage_two(
  tagging.experiment(
    { type: 'sledgehammer_conllu', tag_column: 'upos' },
    train=lib.env('TRAIN_DATA', 'UD_English-EWT/en_ewt-ud-train.conllu'),
    dev=lib.env('DEV_DATA', 'UD_English-EWT/en_ewt-ud-dev.conllu'),
    test=lib.env('TEST_DATA', ''),
    validation_metric='+accuracy',
    // As conll2003_ner_self_sampling.jsonnet: a smaller step than stage 1's for fine-tuning a trained model.
    learning_rate=2e-5,
    head_learning_rate=1e-4,
    num_epochs=2,
  ),
  initial_archive=lib.env('INITIAL_ARCHIVE', error 'set INITIAL_ARCHIVE to the stage-1 model.tar.gz'),
)
