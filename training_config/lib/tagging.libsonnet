// An early-exit tagger experiment (`sledgehammer_tagger`), read like lib/sledgehammer.libsonnet's classifier
// experiment: the same environment variables (TRANSFORMER_MODEL, TRAIN_DATA, DEV_DATA, TEST_DATA, NUM_EPOCHS,
// BATCH_SIZE, SEED, CUDA_DEVICE), the same optimizer and schedule.
local lib = import 'sledgehammer.libsonnet';

{
  // `reader` is a sequence labeling reader config without `transformer_model`/`max_word_pieces`.
  // `validation_metric` is '+f1-measure-overall' for span tags (BIO), '+accuracy' for part of speech.
  experiment(reader, train, dev, validation_metric, test='', max_word_pieces=512, learning_rate=5e-5,
             head_learning_rate=1e-3, num_epochs=3, batch_size=32):: (
    local transformer_model = lib.env('TRANSFORMER_MODEL', '.cache/encoders/all-MiniLM-L6-v2');
    local seed = std.parseInt(lib.env('SEED', '13'));
    {
      random_seed: seed,
      numpy_seed: seed,
      pytorch_seed: seed,
      dataset_reader: reader { transformer_model: transformer_model, max_word_pieces: max_word_pieces },
      train_data_path: train,
      validation_data_path: dev,
      [if test != '' then 'test_data_path']: test,
      [if test != '' then 'evaluate_on_test']: true,
      model: {
        type: 'sledgehammer_tagger',
        transformer_model: transformer_model,
        // null = an exit on every layer.
        exit_layers: null,
        dropout: 0.1,
        // Li et al.: sum_i (i + 1) CE_i / sum_i (i + 1), later exits weigh more.
        loss_weighting: 'depth',
      },
      data_loader: {
        batch_sampler: {
          type: 'bucket',
          batch_size: std.parseInt(lib.env('BATCH_SIZE', std.toString(batch_size))),
        },
      },
      trainer: {
        num_epochs: std.parseInt(lib.env('NUM_EPOCHS', std.toString(num_epochs))),
        cuda_device: std.parseInt(lib.env('CUDA_DEVICE', '-1')),
        // At the default threshold (1.0) the answers are the last exit's.
        validation_metric: validation_metric,
        grad_norm: 1.0,
        optimizer: {
          type: 'huggingface_adamw',
          lr: learning_rate,
          weight_decay: 0.01,
          parameter_groups: [
            // The exit heads start from random weights; at the encoder's learning rate they would barely move.
            [['^_exit_classifiers\\.'], { lr: head_learning_rate, weight_decay: 0 }],
            [['^_encoder\\..*bias$', 'LayerNorm\\.weight$'], { weight_decay: 0 }],
          ],
        },
        learning_rate_scheduler: {
          type: 'slanted_triangular',
          cut_frac: 0.1,
        },
        callbacks: [],
      },
    }
  ),
}
