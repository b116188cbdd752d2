// AG News topic classification (World, Sports, Business, Sci/Tech).
// Files ending in .csv: the official `ag_news_csv` format ("class","title","description", class 1-4);
// .tsv files: `text<TAB>label name` without header (as ../shared/datasets/agnews/train_10k.tsv).
local lib = import 'lib/sledgehammer.libsonnet';

local train = lib.env('TRAIN_DATA', 'ag_news_csv/train.csv');
local reader =
  if std.endsWith(train, '.csv') then { type: 'sledgehammer_ag_news' }
  else { type: 'sledgehammer_table', format: 'tsv', header: false, text_field: '0', label_field: '1' };

lib.experiment(
  reader,
  train=train,
  dev=lib.env('DEV_DATA', 'ag_news_csv/test.csv'),
  test=lib.env('TEST_DATA', ''),
  learning_rate=3e-5,
)
