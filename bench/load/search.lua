-- wrk script: POST /store/items/search, cycling through the queries in $QUERIES.
-- $MODE: keyword | semantic | hybrid | (empty: the server's default, hybrid with the
-- built-in embedder). $PREFIX: the namespace prefix as a JSON array (default ["users"]).
dofile(os.getenv("BENCH_DIR") .. "/queries.lua")
local mode = os.getenv("MODE") or ""
local mode_field = mode ~= "" and (',"mode":"' .. mode .. '"') or ""
local prefix = os.getenv("PREFIX") or '["users"]'

function request()
    position = position % #queries + 1
    -- The generated queries hold only letters, digits, spaces and - ; . (no JSON escaping).
    local body = '{"namespace_prefix":' .. prefix .. ',"query":"' .. queries[position] .. '","limit":10' .. mode_field .. '}'
    return wrk.format("POST", "/store/items/search", headers, body)
end

dofile(os.getenv("BENCH_DIR") .. "/report.lua")
