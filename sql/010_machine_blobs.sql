-- Long strings of machine snapshots, stored once per machine (src/store/machine-blobs.ts). A
-- withdrawal's prepared transaction (~30 KB) was in every snapshot from preparing until the ledger
-- had it, twice while an effect ran (context and effect input), and each snapshot was written whole
-- at every transition. A snapshot now holds {"$cxi.blob": hash} in its place. Rows go when no
-- snapshot of their machine references them any more (at the latest when it is final).
create table machine_blobs (
  machine_type text not null,
  machine_id   text not null,
  hash         text not null,  -- sha-256 of content, hex
  content      text not null,
  primary key (machine_type, machine_id, hash),
  foreign key (machine_type, machine_id) references machine_snapshots (machine_type, machine_id)
);
