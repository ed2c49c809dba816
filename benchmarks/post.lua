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

-- BENCH_MIX=1: a busy server's group callbacks, ten per group: a creation, five direct
-- joins, two quits, a kick and the dismissal (with its members), posted to BENCH_BASE.
local mix = os.getenv("BENCH_MIX") == "1"
local base = os.getenv("BENCH_BASE") or "/imcallback/"
local cycle = {"create", "join", "join", "join", "join", "join", "quit", "quit", "kick", "dismiss"}

local function mixed(id, step)
  local op, user = cycle[step + 1], nil
  if op == "join" then user = string.format("u%d", step) end
  if op == "quit" then user = string.format("u%d", step - 5) end
  if op == "kick" then user = "u3" end
  if op == "create" then
    return "callbackAfterCreateGroupCommand", string.format(
      '{"callbackCommand":"callbackAfterCreateGroupCommand","groupID":"%s","groupName":"n",'
      .. '"ownerUserID":"o-%s","createTime":1700000000000,"memberCount":3,'
      .. '"creatorUserID":"o-%s","groupType":2,"initMemberList":[{"userID":"o-%s",'
      .. '"roleLevel":100},{"userID":"m1","roleLevel":20},{"userID":"m2","roleLevel":20}]}\n',
      id, id, id, id)
  elseif op == "join" then
    return "callbackAfterJoinGroupCommand", string.format(
      '{"callbackCommand":"callbackAfterJoinGroupCommand","operationID":"x","groupID":"%s",'
      .. '"reqMessage":"","joinSource":3,"inviterUserID":"%s"}\n', id, user)
  elseif op == "quit" then
    return "callbackAfterQuitGroupCommand", string.format(
      '{"callbackCommand":"callbackAfterQuitGroupCommand","groupID":"%s","userID":"%s"}\n',
      id, user)
  elseif op == "kick" then
    return "callbackAfterKickGroupCommand", string.format(
      '{"callbackCommand":"callbackAfterKickGroupCommand","groupID":"%s",'
      .. '"kickedUserIDs":["%s"],"reason":""}\n', id, user)
  end
  return "callbackAfterDisMissGroupCommand", string.format(
    '{"callbackCommand":"callbackAfterDisMissGroupCommand","groupID":"%s","ownerID":"o-%s",'
    .. '"groupType":"\\u0002","membersID":["o-%s","m1","m2","u4","u5"]}\n', id, id, id)
end

-- BENCH_MESSAGE=1: a text message per request, as a before-callback (BENCH_PATH), or
-- with BENCH_AFTER=1 as the after-callback the server sends once it is sent.
local message = os.getenv("BENCH_MESSAGE") == "1"
local after = os.getenv("BENCH_AFTER") == "1"
-- BENCH_JOIN=1: a direct join per request, fifty new users per group.
local join = os.getenv("BENCH_JOIN") == "1"

request = function()
  counter = counter + 1
  if message then
    local command = "callbackBeforeSendSingleMsgCommand"
    if after then command = "callbackAfterSendSingleMsgCommand" end
    local body = string.format(
      '{"callbackCommand":"' .. command .. '","sendID":"u-%d",'
      .. '"serverMsgID":"","clientMsgID":"c-%s-%d-%d","senderPlatformID":1,'
      .. '"senderNickname":"U","sessionType":1,"msgFrom":100,"contentType":101,"status":1,'
      .. '"sendTime":1700000000000,"createTime":1700000000000,'
      .. '"content":"{\\"content\\":\\"hello %d\\"}","seq":0,"atUserList":null,'
      .. '"faceURL":"","ex":"","recvID":"u-%d"}\n',
      tid, prefix, tid, counter, counter, tid + 1)
    headers["Operationid"] = string.format("op-%s-%d-%d", prefix, tid, counter)
    return wrk.format("POST", path, headers, body)
  end
  if join then
    local id = string.format("%s-%d-%d", prefix, tid, math.floor((counter - 1) / 50))
    local body = string.format(
      '{"callbackCommand":"callbackAfterJoinGroupCommand","operationID":"x","groupID":"%s",'
      .. '"reqMessage":"","joinSource":3,"inviterUserID":"u%d"}\n', id, counter)
    headers["Operationid"] = string.format("op-%s-%d-%d", prefix, tid, counter)
    return wrk.format("POST", base .. "callbackAfterJoinGroupCommand", headers, body)
  end
  if mix then
    local id = string.format("%s-%d-%d", prefix, tid, math.floor((counter - 1) / 10))
    local command, body = mixed(id, (counter - 1) % 10)
    headers["Operationid"] = string.format("op-%s-%d-%d", prefix, tid, counter)
    return wrk.format("POST", base .. command, headers, body)
  end
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
