// MultiNLI: like snli.jsonnet, validated on the matched dev set by default.
local lib = import 'lib/sledgehammer.libsonnet';
local nli = import 'lib/nli.libsonnet';

local train = lib.env('TRAIN_DATA', 'multinli_1.0/multinli_1.0_train.jsonl');
local readers = nli.readers(train);

lib.experiment(
  readers.train,
  validation_reader=readers.validation,
  train=train,
  dev=lib.env('DEV_DATA', 'multinli_1.0/multinli_1.0_dev_matched.jsonl'),
  test=lib.env('TEST_DATA', ''),
  learning_rate=3e-5,
)
