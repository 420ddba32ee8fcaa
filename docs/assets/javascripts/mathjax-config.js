// MathJax 3 reads the formulas pymdownx.arithmatex leaves in the page (\( ... \) and \[ ... \]); the script
// itself is served by this site (assets/mathjax/), so the pages render their maths offline.
window.MathJax = {
  tex: { inlineMath: [["\\(", "\\)"]], displayMath: [["\\[", "\\]"]], processEscapes: true, processEnvironments: true },
  options: { ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex" },
  svg: { fontCache: "global" },
};
