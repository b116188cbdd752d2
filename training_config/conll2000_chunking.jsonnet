// CoNLL-2000 chunking (NP, VP, PP, ...), span F1 with BIO tags. Files: `word POS chunk` columns.
// CoNLL-2000 has no development file: like agnews.jsonnet, the default validates on the official test file.
// The readers' `split_fraction`/`split_part` options carve a seeded held-out part out of a file instead; note
// that AllenNLP reads TEST_DATA with the validation reader, so a split validation reader splits the test file too.
local lib = import 'lib/sledgehammer.libsonnet';
local tagging = import 'lib/tagging.libsonnet';

tagging.experiment(
  { type: 'sledgehammer_conll2000', tag_column: 'chunk' },
  train=lib.env('TRAIN_DATA', 'conll2000/train.txt'),
  dev=lib.env('DEV_DATA', 'conll2000/test.txt'),
  test=lib.env('TEST_DATA', ''),
  validation_metric='+f1-measure-overall',
)
