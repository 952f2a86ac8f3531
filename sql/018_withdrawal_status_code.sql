-- The code of a withdrawal's status reason, from a closed set (src/machines/withdrawal.reason-code.ts):
-- what an exchange's automation and the `reason` label of cxi_withdrawals use. `status_reason` keeps
-- the words, which carry ids, amounts and ledger error text and are unbounded. Written by the
-- withdrawal runtime's status mirror, with status and status_reason. Rows of machines that have not
-- transitioned since this migration have none until their next transition.
alter table withdrawals add column status_code text collate "C";
