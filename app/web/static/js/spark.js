// A tiny SVG trend line for a tile (the session page uses uPlot for full charts).
const NS = "http://www.w3.org/2000/svg";

export function sparkline(points, { width = 96, height = 28, windowMs = 15 * 60 * 1000, now }) {
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(height));
  svg.setAttribute("class", "spark");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const shown = points.filter(([t]) => t >= now - windowMs);
  if (shown.length < 2) return svg;
  const values = shown.map(([, v]) => v);
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (hi - lo < 1) {
    hi += 0.5;
    lo -= 0.5;
  }
  const x = (t) => ((t - (now - windowMs)) / windowMs) * (width - 2) + 1;
  const y = (v) => height - 2 - ((v - lo) / (hi - lo)) * (height - 4);
  const path = document.createElementNS(NS, "polyline");
  path.setAttribute("points", shown.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" "));
  path.setAttribute("fill", "none");
  path.setAttribute("stroke", "currentColor");
  path.setAttribute("stroke-width", "1.5");
  svg.append(path);
  return svg;
}
