// WNUT-17 emerging and rare entities (person, location, corporation, product, creative-work, group),
// span F1 with BIO tags. Files: `word<TAB>tag` lines as the official `wnut17train.conll` and `emerging.dev.conll`.
local lib = import 'lib/sledgehammer.libsonnet';
local tagging = import 'lib/tagging.libsonnet';

tagging.experiment(
  { type: 'sledgehammer_wnut17' },
  train=lib.env('TRAIN_DATA', 'wnut17/wnut17train.conll'),
  dev=lib.env('DEV_DATA', 'wnut17/emerging.dev.conll'),
  test=lib.env('TEST_DATA', ''),
  validation_metric='+f1-measure-overall',
)
