-- GET /items/{id} with a random id of the seeded 1..1000 (bench/databases.py), one per request.
--   wrk -s bench/items.lua http://127.0.0.1:18080/items/1 [-- ROWS]
local rows = 1000

function init(args)
  if args[1] then rows = tonumber(args[1]) end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 1000)
end

function request()
  return wrk.format("GET", "/items/" .. math.random(1, rows))
end
