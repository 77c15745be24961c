local t = setmetatable({}, { __gc = function() while true do end end }) t = nil
local s = {} for i = 1, 1e5 do s[i] = {} end
return {}