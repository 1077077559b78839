-- user_name upper-cased before the insert, and the e-mail address as the item key
-- (the data-ingestion-orchestration seed). Route keys:
--   transform = upper_user_name.lua
--   output_columns = id, user_name, pincode
--   validate.email = regex:^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$
--   validate.pincode = regex:^([0-9]{4}|[0-9]{6})$
function transform(row)
  return {id = row.email, user_name = row.user_name and row.user_name:upper(), pincode = row.pincode}
end
