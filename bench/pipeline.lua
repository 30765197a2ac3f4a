-- TechEmpower-style pipelining for wrk: every write carries `depth` requests (default 16).
--   wrk -s bench/pipeline.lua URL -- 16
init = function(args)
  local depth = tonumber(args[1]) or 16
  local requests = {}
  for i = 1, depth do
    requests[i] = wrk.format()
  end
  batch = table.concat(requests)
end

request = function()
  return batch
end
