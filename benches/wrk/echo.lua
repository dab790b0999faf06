-- One `tools/call` of the `echo` tool per request, in the stateless era (`2026-07-28`), which
-- both `mcptk serve builtin --http` and `rmcp-echo --http` serve without a session: the `_meta`
-- envelope carries the version and client capabilities, and the headers mirror the body
-- (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`), as that era requires.
--
--   wrk -t1 -c16 -d3s --latency -s benches/wrk/echo.lua http://127.0.0.1:PORT/mcp
--
-- With WRK_CHECK=1 in the environment every answer's body is checked for the echoed text too
-- (slower: a Lua call per answer); the count of wrong answers is printed at the end. WRK_TOOL
-- names the tool (default `echo`; `builtin__echo` through a gateway) and WRK_TOKEN, when set, is
-- sent as a bearer token.

local tool = os.getenv("WRK_TOOL") or "echo"
local token = os.getenv("WRK_TOKEN")
if token then
  wrk.headers["Authorization"] = "Bearer " .. token
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
wrk.headers["Mcp-Method"] = "tools/call"
wrk.headers["Mcp-Name"] = tool
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"' .. tool .. '","arguments":{"text":"hello"},'
  .. '"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
  .. '"io.modelcontextprotocol/clientCapabilities":{},'
  .. '"io.modelcontextprotocol/clientInfo":{"name":"wrk","version":"1.0"}}}}'

if os.getenv("WRK_CHECK") == "1" then
  -- Each thread counts in its own global `wrong`; `done` reads them back with `thread:get`.
  wrong = 0
  local threads = {}

  function setup(thread)
    table.insert(threads, thread)
  end

  function response(status, headers, body)
    if status ~= 200 or not string.find(body, '"text":"hello"', 1, true) then
      wrong = wrong + 1
      if wrong == 1 then
        io.stderr:write("first wrong answer: " .. status .. " " .. tostring(body) .. "\n")
      end
    end
  end

  function done(summary, latency, requests)
    local total = 0
    for _, thread in ipairs(threads) do
      total = total + (thread:get("wrong") or 0)
    end
    print("wrong answers: " .. total)
  end
end
