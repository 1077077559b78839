-- orders_YYYYMMDD.csv: each order adds its amount to the customer's total (update
-- total = add, an exact decimal) and appends {id, amount} to the customer's list of
-- orders (update orders = append, types orders:JSON). The amount is written into the
-- JSON as the text it has in the file, so it stays an exact number.
--   output_columns = id, total, orders
local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

function transform(row)
  if not row.amount:match("^%-?%d+%.?%d*$") then
    error("amount is not a decimal number: " .. row.amount)
  end
  return {id = row.customer_id, total = row.amount,
          orders = '{"id":' .. json_string(row.order_id) .. ',"amount":' .. row.amount .. '}'}
end
