-- wrk script: GET /store/items, cycling through the first $KEYS (default 5,000) items that
-- `gen.py items` writes (key mNNNNNNN in ["users", "user-(N mod 100)", "memories"]).
-- $REFRESH: the refresh_ttl query parameter (default true, as LangGraph's get does).
local keys = tonumber(os.getenv("KEYS") or "5000")
local refresh = os.getenv("REFRESH") or "true"
local position = 0

function request()
    local n = position % keys
    position = position + 1
    local path = string.format("/store/items?namespace=users.user-%03d.memories&key=m%07d&refresh_ttl=%s", n % 100, n, refresh)
    return wrk.format("GET", path)
end

dofile(os.getenv("BENCH_DIR") .. "/report.lua")
