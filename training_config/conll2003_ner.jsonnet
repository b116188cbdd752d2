// CoNLL-2003 English named entities (PER, LOC, ORG, MISC), span F1 with BIO tags. Files: `word POS chunk NER`
// columns, IOB1 or BIO (both read correctly), as the original `eng.train`/`eng.testa` or `train.txt`/`dev.txt`
// copies. Only uncased encoders are installable offline here (MiniLM, MPNet): casing, a strong NER cue, is lost.
local lib = import 'lib/sledgehammer.libsonnet';
local tagging = import 'lib/tagging.libsonnet';

tagging.experiment(
  { type: 'sledgehammer_conll2003', tag_column: 'ner' },
  train=lib.env('TRAIN_DATA', 'conll2003/train.txt'),
  dev=lib.env('DEV_DATA', 'conll2003/dev.txt'),
  test=lib.env('TEST_DATA', ''),
  validation_metric='+f1-measure-overall',
)
