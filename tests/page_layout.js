() => {
  const problems = new Set();
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth + 1) problems.add(`the page is ${doc.scrollWidth}px wide in a ${window.innerWidth}px window`);
  const visible = (el) => {
    const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return r.width > 1 && r.height > 1 && s.visibility !== "hidden" && s.display !== "none" && el.closest("[hidden], .visually-hidden") === null;
  };
  const name = (el) => `<${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}> "${(el.innerText || el.alt || el.getAttribute("aria-label") || "").trim().slice(0, 30)}"`;
  for (const el of document.querySelectorAll("th, td, h1, h2, h3, label, button, p, li, span")) {
    if (!visible(el)) continue;
    for (const node of el.childNodes) {
      if (node.nodeType !== Node.TEXT_NODE) continue;
      const words = /\S+/g;
      let m;
      while ((m = words.exec(node.textContent))) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const lines = new Set([...range.getClientRects()].filter((r) => r.width > 1).map((r) => Math.round(r.bottom)));
        if (lines.size > 1) problems.add(`"${m[0]}" is broken across lines in ${name(el)}`);
      }
    }
  }
  for (const cell of document.querySelectorAll("th, td")) {
    if (visible(cell) && cell.scrollWidth > cell.clientWidth + 1) problems.add(`text wider than its cell: ${name(cell)}`);
  }
  for (const el of document.querySelectorAll("th, td, img, button, textarea, table, h1, h2, h3, p")) {
    if (!visible(el) || el.closest(".wide")) continue;  // .wide: a table that scrolls on purpose
    const r = el.getBoundingClientRect();
    for (let box = el.parentElement; box && box !== document.body; box = box.parentElement) {
      if (getComputedStyle(box).overflowX === "visible") continue;
      const b = box.getBoundingClientRect();
      if (r.right > b.right + 1 || r.left < b.left - 1) problems.add(`${name(el)} is cut off by its container`);
      break;
    }
  }
  for (const el of document.querySelectorAll("th, td, img, button, textarea, table, h1, h2, h3, p, label")) {
    if (!visible(el)) continue;  // cut at the top or bottom by a box that hides what overflows it (one that scrolls shows it)
    const r = el.getBoundingClientRect();
    for (let box = el.parentElement; box && box !== document.body; box = box.parentElement) {
      const overflow = getComputedStyle(box).overflowY;
      if (overflow === "visible") continue;
      const b = box.getBoundingClientRect();
      if ((overflow === "hidden" || overflow === "clip") && (r.bottom > b.bottom + 1 || r.top < b.top - 1)) {
        problems.add(`${name(el)} is cut off at the ${r.bottom > b.bottom + 1 ? "bottom" : "top"} by its container`);
      }
      break;
    }
  }
  for (const svg of document.querySelectorAll("svg")) {  // a chart's text: inside the chart, one label never over another
    if (!visible(svg)) continue;
    const s = svg.getBoundingClientRect();
    const texts = [...svg.querySelectorAll("text")].filter((t) => t.textContent.trim() && t.getBoundingClientRect().width > 1);
    const label = (t) => `chart text "${t.textContent.trim().slice(0, 30)}"`;
    for (let i = 0; i < texts.length; i++) {
      const r = texts[i].getBoundingClientRect();
      if (r.left < s.left - 1 || r.right > s.right + 1 || r.top < s.top - 1 || r.bottom > s.bottom + 1) problems.add(`${label(texts[i])} is cut off by its chart`);
      for (let j = i + 1; j < texts.length; j++) {
        const q = texts[j].getBoundingClientRect();
        const x = Math.min(r.right, q.right) - Math.max(r.left, q.left), y = Math.min(r.bottom, q.bottom) - Math.max(r.top, q.top);
        if (x > 2 && y > 2) problems.add(`${label(texts[i])} overlaps ${label(texts[j])}`);
      }
    }
  }
  const items = [...document.querySelectorAll("button, textarea, img, label, h1, h2, h3, table, p, canvas")].filter(visible);
  for (let i = 0; i < items.length; i++) {
    for (let j = i + 1; j < items.length; j++) {
      const a = items[i], b = items[j];
      if (a.contains(b) || b.contains(a)) continue;
      const r = a.getBoundingClientRect(), q = b.getBoundingClientRect();
      const x = Math.min(r.right, q.right) - Math.max(r.left, q.left), y = Math.min(r.bottom, q.bottom) - Math.max(r.top, q.top);
      if (x > 2 && y > 2) problems.add(`${name(a)} overlaps ${name(b)}`);
    }
  }
  return [...problems];
}
