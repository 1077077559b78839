-- Per-object aggregates: no row passes through; finish() writes one row per
-- customer with the number of orders and their total. Route keys:
--   transform = customer_totals.lua
--   output_columns = customer, orders, total
local totals, order = {}, {}

function transform(row)
  local c = row.customer
  if not totals[c] then
    totals[c] = {orders = 0, cents = 0}
    order[#order + 1] = c
  end
  local t = totals[c]
  t.orders = t.orders + 1
  t.cents = t.cents + math.floor(tonumber(row.amount) * 100 + 0.5)
  return nil
end

function finish(ctx)
  local out = {}
  for _, c in ipairs(order) do
    local t = totals[c]
    out[#out + 1] = {customer = c, orders = t.orders,
                     total = string.format("%d.%02d", t.cents // 100, t.cents % 100)}
  end
  return out
end
