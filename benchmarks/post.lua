-- wrk script: POST small dismissals, each with a group ID no other request uses
-- (or, with BENCH_REPEAT=1, each group twice).
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

-- BENCH_REPEAT=1: send every group twice, as OpenIM does: with its members, then without.
local repeat_each = os.getenv("BENCH_REPEAT") == "1"

request = function()
  counter = counter + 1
  local group = counter
  local members = nil
  if repeat_each then
    group = math.floor((counter + 1) / 2)
    if counter % 2 == 0 then members = "null" end
  end
  local id = string.format("%s-%d-%d", prefix, tid, group)
  members = members or string.format('["a-%s","b-%s","c-%s","d-%s","e-%s"]', id, id, id, id, id)
  local body = string.format(
    '{"callbackCommand":"callbackAfterDisMissGroupCommand","groupID":"%s","ownerID":"o-%s",'
    .. '"groupType":"\\u0002","membersID":%s,"eventTime":1700000000000}\n',
    id, id, members)
  -- OpenIM gives every operation its own ID.
  headers["Operationid"] = string.format("op-%s-%d-%d", prefix, tid, counter)
  return wrk.format("POST", path, headers, body)
end

done = function(summary, latency, requests)
  io.write(string.format("BENCH non2xx=%d errors=%d\n",
    summary.errors.status, summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout))
end
