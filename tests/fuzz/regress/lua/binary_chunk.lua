-- Binary chunks are not verified by Lua (a crafted one crashes it): load
-- must refuse them, so the assert fails and generation reports an error.
local f = assert(load(string.dump(function() return "k" end)))
return { kernel_name = f,
	generate = function() return { name = f(), c = "", h = "" } end }
