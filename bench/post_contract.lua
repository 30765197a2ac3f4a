-- POST /contract for wrk: every request carries the same JSON body and x-request-id header.
--   wrk -s bench/post_contract.lua http://127.0.0.1:18080/contract -- BODY REQUEST_ID
-- bench/suite.py passes its CONTRACT_BODY and CONTRACT_REQUEST_ID (the body the correctness
-- check sends first); without arguments the same ones below are used.
local default_body = '{"customer":"Ada Lovelace","email":"ada@example.org","quantity":3,'
  .. '"unit_price":19.99,"discount":0.1,"priority":"high","channel":"web",'
  .. '"tags":["math","engines"],"note":"leave it at the door","gift":true}'
local default_request_id = "acme-5f3c9a1e7b2d4c60"

init = function(args)
  wrk.method = "POST"
  wrk.body = args[1] or default_body
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-Request-Id"] = args[2] or default_request_id
end
