// Stage 2 of early exit for CoNLL-2003 NER (Li et al., ACL 2021): self-sampling fine-tuning of a tagger trained
// with conll2003_ner.jsonnet (see lib/self_sampling.libsonnet). Environment variables: INITIAL_ARCHIVE (required:
// the stage-1 model.tar.gz), TRANSFORMER_MODEL (must be the stage-1 encoder; the same default), TRAIN_DATA,
// DEV_DATA, TEST_DATA, NUM_EPOCHS, BATCH_SIZE, SEED, CUDA_DEVICE as for conll2003_ner.jsonnet.
local lib = import 'lib/sledgehammer.libsonnet';
local self_sampling = import 'lib/self_sampling.libsonnet';
local tagging = import 'lib/tagging.libsonnet';

self_sampling.stage_two(
  tagging.experiment(
    { type: 'sledgehammer_conll2003', tag_column: 'ner' },
    train=lib.env('TRAIN_DATA', 'conll2003/train.txt'),
    dev=lib.env('DEV_DATA', 'conll2003/dev.txt'),
    test=lib.env('TEST_DATA', ''),
    validation_metric='+f1-measure-overall',
    // Fine-tuning a trained model: a smaller step than stage 1's (5e-5, heads 1e-3). Our choice, not the paper's.
    learning_rate=2e-5,
    head_learning_rate=1e-4,
    num_epochs=2,
  ),
  initial_archive=lib.env('INITIAL_ARCHIVE', error 'set INITIAL_ARCHIVE to the stage-1 model.tar.gz'),
)
