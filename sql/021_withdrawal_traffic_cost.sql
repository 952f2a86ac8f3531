-- The participant's estimate of what a withdrawal's transfer costs the validator in synchronizer
-- traffic (bytes): prepare's costEstimation.totalTrafficCostEstimation for the transaction the
-- treasury signed last (a re-prepared attempt replaces it). Written by the withdrawal runtime in
-- the transition that holds the signed transaction; null when the node gave no estimate (older
-- nodes) or nothing was signed yet.
alter table withdrawals add column traffic_cost_estimate bigint;
