-- customers_YYYYMMDD.csv: one item per customer, named by its id. total starts at 0
-- (set_if_absent: a customer whose orders arrived first keeps their sum).
--   output_columns = id, name, total
function transform(row)
  return {id = row.customer_id, name = row.customer_name, total = "0"}
end
