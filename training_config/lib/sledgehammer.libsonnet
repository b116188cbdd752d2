// Shared pieces of the sledgehammer training configs.
{
  // An external variable, or `default` when it is unset or empty. The sledgehammer plugin passes an
  // empty string for the unset variables the configs use (see sledgehammer/common/config_variables.py).
  env(name, default):: (
    local value = std.extVar(name);
    if value == '' then default else value
  ),

  // A multi-exit classifier experiment. `reader` (and `validation_reader`, if different) are dataset
  // reader configs without `transformer_model`/`max_length`; the encoder is shared by reader and model.
  experiment(reader, train, dev, test='', validation_reader=null, max_length=128, learning_rate=2e-5,
             head_learning_rate=1e-3, num_epochs=2, batch_size=32):: (
    local transformer_model = $.env('TRANSFORMER_MODEL', '.cache/encoders/all-MiniLM-L6-v2');
    local with_encoder(r) = r { transformer_model: transformer_model, max_length: max_length };
    local epochs = std.parseInt($.env('NUM_EPOCHS', std.toString(num_epochs)));
    local seed = std.parseInt($.env('SEED', '13'));
    {
      random_seed: seed,
      numpy_seed: seed,
      pytorch_seed: seed,
      dataset_reader: with_encoder(reader),
      [if validation_reader != null then 'validation_dataset_reader']: with_encoder(validation_reader),
      train_data_path: train,
      validation_data_path: dev,
      [if test != '' then 'test_data_path']: test,
      [if test != '' then 'evaluate_on_test']: true,
      model: {
        type: 'sledgehammer_classifier',
        transformer_model: transformer_model,
        // null = an exit on every layer.
        exit_layers: null,
        // Mean pooling without the [CLS] pooler: the default encoder (sentence-transformers MiniLM) was
        // trained with mean pooling, and a linear probe of its frozen layers 0-3 finds no sentiment in the
        // [CLS] vector (57 % = majority class) but 72-77 % in the token mean. For BERT-style encoders the
        // paper's choice is `exit_pooling: 'first_token', use_pooler: true`.
        exit_pooling: 'mean',
        use_pooler: false,
        dropout: 0.1,
        // What the lower exits learn besides the gold labels: 'gold' (nothing else), 'distill' (KL to the
        // last exit's softened output) or 'consistency' (cross-entropy on the last exit's answer).
        exit_targets: $.env('EXIT_TARGETS', 'gold'),
      },
      data_loader: {
        batch_sampler: {
          type: 'bucket',
          batch_size: std.parseInt($.env('BATCH_SIZE', std.toString(batch_size))),
        },
      },
      trainer: {
        num_epochs: epochs,
        cuda_device: std.parseInt($.env('CUDA_DEVICE', '-1')),
        validation_metric: '+accuracy_last_exit',
        grad_norm: 1.0,
        optimizer: {
          type: 'huggingface_adamw',
          lr: learning_rate,
          weight_decay: 0.01,
          parameter_groups: [
            // The exit heads start from random weights: at the encoder's small learning rate they would
            // barely move in a short fine-tuning, leaving the lower exits at the majority class.
            [['^_exit_classifiers\\.'], { lr: head_learning_rate, weight_decay: 0 }],
            [['^_encoder\\..*bias$', 'LayerNorm\\.weight$'], { weight_decay: 0 }],
          ],
        },
        // Warm up over the first 10 % of steps, then decay linearly (Howard & Ruder 2018).
        learning_rate_scheduler: {
          type: 'slanted_triangular',
          cut_frac: 0.1,
        },
        callbacks: [],
      },
    }
  ),
}
