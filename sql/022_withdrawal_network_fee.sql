-- The network fee a withdrawal paid: what the treasury's holdings of the instrument lost beyond the
-- amount, summed over the updates ingestion recorded for it (the transfer, and for a 2-step offer
-- the update that closed it). Written by ingestion with those updates; null while no transfer of
-- the withdrawal was ingested.
alter table withdrawals add column network_fee numeric(38, 10);

-- Withdrawals ingested before this column: the same sum, from the fees their events carried.
update withdrawals w set network_fee = f.fee
from (
  select e.aggregate_id as withdrawal_id, coalesce(sum((e.payload ->> 'fee')::numeric), 0) as fee
  from outbox_events e
  where e.aggregate_type = 'withdrawal'
    and e.topic in ('withdrawal.transferred', 'withdrawal.recovered', 'withdrawal.instruction_closed')
    and (e.topic <> 'withdrawal.instruction_closed' or e.payload ? 'updateId')
  group by e.aggregate_id
) f
where w.withdrawal_id = f.withdrawal_id and w.transfer_update_id is not null;
