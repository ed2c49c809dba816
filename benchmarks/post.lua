-- wrk script: POST small dismissals, each with a group ID no other request uses.
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local counter = 0
local prefix = os.getenv("BENCH_PREFIX") or "g"
local path = os.getenv("BENCH_PATH") or "/imcallback/callbackAfterDisMissGroupCommand"
local headers = {
  ["Content-Type"] = "application/json; charset=utf-8",
  ["User-Agent"] = "Go-http-client/1.1",
  ["Authorization"] = os.getenv("BENCH_AUTH") or "",
}

request = function()
  counter = counter + 1
  local id = string.format("%s-%d-%d", prefix, tid, counter)
  local body = string.format(
    '{"callbackCommand":"callbackAfterDisMissGroupCommand","groupID":"%s","ownerID":"o-%s",'
    .. '"groupType":"\\u0002","membersID":["a-%s","b-%s","c-%s","d-%s","e-%s"],'
    .. '"eventTime":1700000000000}\n',
    id, id, id, id, id, id, id)
  -- OpenIM gives every operation its own ID.
  headers["Operationid"] = "op-" .. id
  return wrk.format("POST", path, headers, body)
end

done = function(summary, latency, requests)
  io.write(string.format("BENCH non2xx=%d errors=%d\n",
    summary.errors.status, summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout))
end
