// Binary sentiment: GLUE SST-2 TSV (`sentence\tlabel`), any TSV/CSV/JSONL with `sentence` and `label`
// fields, or the original SST PTB trees (files ending in .txt: neutral sentences dropped).
// Defaults: the Rotten Tomatoes split that `scripts/prepare_demo_assets.py` writes.
local lib = import 'lib/sledgehammer.libsonnet';

local train = lib.env('TRAIN_DATA', '.cache/data/rotten_tomatoes/train.tsv');
local reader =
  if std.endsWith(train, '.txt') then { type: 'sledgehammer_sst_trees', granularity: '2-class' }
  else {
    type: 'sledgehammer_table',
    text_field: 'sentence',
    label_field: 'label',
    // GLUE SST-2 labels 0/1 and the demo's names both become the tree reader's label names.
    label_map: { '0': 'negative', '1': 'positive', negative: 'negative', positive: 'positive' },
  };

lib.experiment(
  reader,
  train=train,
  dev=lib.env('DEV_DATA', '.cache/data/rotten_tomatoes/dev.tsv'),
  test=lib.env('TEST_DATA', ''),
  learning_rate=2e-5,
)
