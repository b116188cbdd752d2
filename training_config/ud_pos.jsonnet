// Universal Dependencies part of speech (UPOS, 17 tags), word accuracy. CoNLL-U files; the default is
// the English Web Treebank (UD_English-EWT). Multiword token ranges and empty nodes are skipped.
local lib = import 'lib/sledgehammer.libsonnet';
local tagging = import 'lib/tagging.libsonnet';

tagging.experiment(
  { type: 'sledgehammer_conllu', tag_column: 'upos' },
  train=lib.env('TRAIN_DATA', 'UD_English-EWT/en_ewt-ud-train.conllu'),
  dev=lib.env('DEV_DATA', 'UD_English-EWT/en_ewt-ud-dev.conllu'),
  test=lib.env('TEST_DATA', ''),
  validation_metric='+accuracy',
)
