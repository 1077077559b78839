-- items_YYYYMMDD.csv: nothing per row; after the last row, finish() writes one row per
-- customer (in the order the file names them) with each of their orders' item ids:
-- {id, order_items = [{"id": order, "item_ids": [...]}, ...]}. The same rows go to
-- DynamoDB (update order_items = set) and, as one JSON message per customer, to SQS.
--   output_columns = id, order_items
local customers, seen = {}, {}

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

function transform(row)
  local c = seen[row.customer_id]
  if not c then
    c = {id = row.customer_id, orders = {}, index = {}}
    seen[row.customer_id] = c
    customers[#customers + 1] = c
  end
  local o = c.index[row.order_id]
  if not o then
    o = {id = row.order_id, items = {}}
    c.index[row.order_id] = o
    c.orders[#c.orders + 1] = o
  end
  o.items[#o.items + 1] = json_string(row.item_id)
  return nil
end

function finish()
  local out = {}
  for _, c in ipairs(customers) do
    local orders = {}
    for _, o in ipairs(c.orders) do
      orders[#orders + 1] = '{"id":' .. json_string(o.id) .. ',"item_ids":[' ..
                            table.concat(o.items, ",") .. ']}'
    end
    out[#out + 1] = {id = c.id, order_items = "[" .. table.concat(orders, ",") .. "]"}
  end
  return out
end
