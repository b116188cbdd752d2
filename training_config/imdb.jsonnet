// IMDB movie reviews (Maas et al. 2011): `aclImdb/{train,test}` folders with pos/ and neg/ review files,
// or CSV/TSV/JSONL files with `text` and `label` fields (as ../shared/datasets/imdb/*.csv).
// Reviews are long: up to 512 word pieces, as in the paper.
local lib = import 'lib/sledgehammer.libsonnet';

local train = lib.env('TRAIN_DATA', 'aclImdb/train');
local is_file = std.endsWith(train, '.csv') || std.endsWith(train, '.tsv') || std.endsWith(train, '.jsonl');
local reader =
  if is_file then {
    type: 'sledgehammer_table',
    text_field: 'text',
    label_field: 'label',
    // 0/1 label files and the folder reader agree on label names.
    label_map: { '0': 'negative', '1': 'positive', negative: 'negative', positive: 'positive' },
  }
  else { type: 'sledgehammer_imdb' };

lib.experiment(
  reader,
  train=train,
  dev=lib.env('DEV_DATA', 'aclImdb/test'),
  test=lib.env('TEST_DATA', ''),
  max_length=512,
  batch_size=16,
  learning_rate=2e-5,
)
