-- One row per item: "apple:2;pear:1" becomes two rows; orders without items
-- are dropped. Route keys:
--   transform = order_items.lua
--   output_columns = order_id, item, qty
function transform(row)
  if not row.items or row.items == "" then
    return nil
  end
  local out = {}
  for item, qty in row.items:gmatch("([^:;]+):(%d+)") do
    out[#out + 1] = {order_id = row.order_id, item = item, qty = tonumber(qty)}
  end
  return out
end
