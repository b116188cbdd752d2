// Sentence-pair (NLI) readers chosen by file name: official SNLI/MultiNLI JSONL, CSV/TSV with
// premise/hypothesis/label columns (as ../shared/datasets/snli/dev.csv), or SICK's SICK.txt, whose
// SemEval_set column selects TRAIN for training and TRIAL for validation.
{
  readers(train)::
    if std.endsWith(train, '.jsonl') then
      { train: { type: 'sledgehammer_nli_jsonl' }, validation: null }
    else if std.endsWith(std.asciiLower(train), 'sick.txt') then
      local sick = {
        type: 'sledgehammer_table',
        format: 'tsv',
        text_field: 'sentence_A',
        text_pair_field: 'sentence_B',
        label_field: 'entailment_label',
        filter_field: 'SemEval_set',
      };
      { train: sick { filter_values: ['TRAIN'] }, validation: sick { filter_values: ['TRIAL'] } }
    else
      {
        train: {
          type: 'sledgehammer_table',
          text_field: 'premise',
          text_pair_field: 'hypothesis',
          label_field: 'label',
        },
        validation: null,
      },
}
