-- wrk script: POST /conversations/search, one user's past conversations (gen.py's
-- `user-000` … `user-099`, cycling), limit 5, the server's default mode (hybrid with the
-- built-in embedder), cycling through the queries in $QUERIES.
local queries = {}
for line in io.lines(os.getenv("QUERIES")) do
    queries[#queries + 1] = line
end
local users = tonumber(os.getenv("USERS") or "100")
local headers = { ["Content-Type"] = "application/json" }
local next_thread = 0

function setup(thread)
    next_thread = next_thread + 1
    thread:set("position", next_thread * 7919)
end

function init(args)
    position = position or 0
end

function request()
    position = position + 1
    local query = queries[position % #queries + 1]
    local user = string.format("user-%03d", position % users)
    -- The generated queries hold only letters, digits, spaces and - ; . (no JSON escaping).
    local body = '{"user_id":"' .. user .. '","query":"' .. query .. '","limit":5}'
    return wrk.format("POST", "/conversations/search", headers, body)
end

dofile(os.getenv("BENCH_DIR") .. "/report.lua")
