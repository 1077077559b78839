-- Every row gets the time it was loaded, as an upsert refreshes it (the
-- aws-data-pipeline seed's processed_at column). Route keys:
--   transform = processed_at.lua
--   output_columns = id, first_name, last_name, email, ip_address, timestamp, amount, processed_at
--   mode = upsert
--   key = id
function transform(row, ctx)
  row.processed_at = ctx.now
  return row
end
