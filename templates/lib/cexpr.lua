-- lib/cexpr.lua - small C expression builders that fold constants, so the
-- emitted code says "row[x + 1]" rather than "row[x * 1 + 1 - 0]".
local M = {}

-- var * coef + const, simplified; var may be nil for a constant.
function M.affine(var, coef, const)
	local s
	if var == nil or coef == 0 then
		return tostring(const)
	elseif coef == 1 then
		s = var
	else
		s = string.format("%s * %d", var, coef)
	end
	if const > 0 then
		s = string.format("%s + %d", s, const)
	elseif const < 0 then
		s = string.format("%s - %d", s, -const)
	end
	return s
end

-- Join terms with " + ", or "0.0f" when there are none.
function M.sum(terms)
	if #terms == 0 then return "0.0f" end
	return table.concat(terms, " + ")
end

return M
