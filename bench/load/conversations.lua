-- wrk script: POST /conversations/search, one user's past conversations (gen.py's
-- `user-000` … `user-099`, cycling), limit 5, the server's default mode (hybrid with the
-- built-in embedder), cycling through the queries in $QUERIES.
dofile(os.getenv("BENCH_DIR") .. "/queries.lua")
local users = tonumber(os.getenv("USERS") or "100")

function request()
    position = position + 1
    local query = queries[position % #queries + 1]
    local user = string.format("user-%03d", position % users)
    -- The generated queries hold only letters, digits, spaces and - ; . (no JSON escaping).
    local body = '{"user_id":"' .. user .. '","query":"' .. query .. '","limit":5}'
    return wrk.format("POST", "/conversations/search", headers, body)
end

dofile(os.getenv("BENCH_DIR") .. "/report.lua")
