-- Never returns: must stop at the instruction limit, not hang.
local M = {}
function M.kernel_name(d)
	local x = 0
	while true do x = x + 1 end
end
M.generate = M.kernel_name
return M
