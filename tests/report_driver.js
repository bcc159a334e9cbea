// Browses a Snakemake HTML report the way a reader does, in headless Chromium (tests/test_workflow.py appends
// this script to a copy of the report): first the landing page (the claims table drawn in it), then from the
// menu into every study (category), each of its Tables / Figures / Samples lists (subcategories), every result's
// information button (the caption) and view button (a figure is shown as an image, a table as its HTML page in
// the content area), and finally shows a figure (the first of the study with the most) for the screenshot.
// What it saw is written as JSON into a hidden pre element (id report-check) for `chromium --dump-dom`.
"use strict";
(async function () {
    const seen = { menu: [], studies: {}, results: {}, shown: null, errors: [], done: false };
    const pre = document.createElement("pre");
    pre.id = "report-check";
    pre.style.display = "none";
    document.body.appendChild(pre);
    const save = () => { pre.textContent = JSON.stringify(seen); };  // after every step: a timeout shows how far it got
    window.addEventListener("error", (ev) => { seen.errors.push(String(ev.message)); save(); });
    const GENERAL = ["Workflow", "Statistics", "About"];
    const tick = () => new Promise((resolve) => setTimeout(resolve, 10));
    const navbar = () => document.querySelector("#app nav");
    // the navbar below its breadcrumbs: the menu, a study's lists, a list's results or a result's information
    const panel = () => (navbar() && navbar().querySelector(":scope > div > div.p-3")) || document.createElement("div");
    const text = (el) => el.textContent.trim();
    const linkTexts = () => [...panel().querySelectorAll("a")].map(text).filter((t) => t);
    const linkByText = (label) => [...panel().querySelectorAll("a")].find((a) => text(a) === label);

    async function until(probe, what) {
        for (let i = 0; i < 300; i++) {
            const value = probe();
            if (value) return value;
            await tick();
        }
        throw new Error("timed out waiting for " + what);
    }

    async function click(link, what) {
        if (!link) throw new Error("no link for " + what);
        link.click();
        await tick();
    }

    async function openList(study, list) {
        await click(navbar().querySelector("ol a"), "the home button");  // the breadcrumbs' first entry
        await click(await until(() => linkByText(study), "menu entry " + study), study);
        // a study with one list shows its results at once (no list to choose): its list is null
        if (list !== undefined && list !== null) await click(await until(() => linkByText(list), study + " / " + list), list);
    }

    const rows = () => [...panel().querySelectorAll("table tbody tr")];

    async function shownImage() {  // the image of the content area (not the navbar's logo), once decoded
        const img = await until(() => [...document.querySelectorAll("#app img")].find((el) => !el.closest("nav")),
                                "an image view");
        await until(() => img.complete && img.naturalWidth > 0, "the image to load");
        const src = img.getAttribute("src");
        return { file: (src.match(/filename=([^;]+);/) || [])[1], mime: src.slice(5, src.indexOf(";")),
                 width: img.naturalWidth, height: img.naturalHeight };
    }

    // the view a result's button opened in the content area (not the navbar): an image or an HTML page (iframe)
    const contentView = () => [...document.querySelectorAll("#app img, #app iframe")].find((el) => !el.closest("nav"));

    function tableCells(root) {  // the tables of a page: header cells, row count, the first row's cells
        return [...root.querySelectorAll("table")].map((table) => ({
            header: [...table.querySelectorAll("thead th")].map(text),
            rows: table.querySelectorAll("tbody tr").length,
            first: [...(table.querySelector("tbody tr") || document.createElement("tr")).querySelectorAll("td")].map(text),
        }));
    }

    async function shownPage(before) {  // the HTML page a view button opened (a table): what it holds
        const frame = await until(() => { const el = contentView(); return el && el.tagName === "IFRAME" && el !== before
                                           && el.getAttribute("src") !== (before && before.getAttribute("src")) && el; },
                                  "an HTML view");
        const src = frame.getAttribute("src");
        const bytes = Uint8Array.from(atob(src.slice(src.indexOf(",") + 1)), (c) => c.charCodeAt(0));
        const doc = new DOMParser().parseFromString(new TextDecoder("utf-8").decode(bytes), "text/html");
        const box = frame.getBoundingClientRect();
        return { file: (src.match(/filename=([^;]+);/) || [])[1], mime: src.slice(5, src.indexOf(";")), src,
                 title: doc.title, tables: tableCells(doc), width: Math.round(box.width), height: Math.round(box.height),
                 scripts: doc.querySelectorAll("script").length };
    }

    try {
        await until(() => linkByText("Workflow"), "the report's menu");
        // the landing page: its title, then the claims table drawn inline
        const landing = await until(() => document.querySelector("#app .prose"), "the landing page");
        await until(() => landing.querySelector("table") || landing.textContent.includes("not in this report"), "the landing text");
        const first = landing.querySelector("h1, table");
        seen.landing = { title: first && first.tagName === "H1" ? text(first) : null, tables: tableCells(landing),
                         firstAfterTitle: (() => { const t = landing.querySelector("table"); return t ? [...landing.querySelectorAll("h1, h2, table")].indexOf(t) : -1; })() };
        save();
        seen.menu = linkTexts().filter((t) => !GENERAL.includes(t));
        for (const study of seen.menu) {
            await openList(study);
            await until(() => linkTexts().length || rows().length, study + "'s lists or results");
            const lists = rows().length ? [null] : linkTexts();
            seen.studies[study] = {};  // list (null: the study's only list, shown at once) -> its result labels
            for (const list of lists) {
                await openList(study, list);
                await until(() => rows().length, study + " / " + list + " rows");
                const labels = rows().map((tr) => text(tr.querySelector("td")));
                seen.studies[study][list] = labels;
                for (let i = 0; i < labels.length; i++) {
                    await openList(study, list);
                    const [view, info] = await until(() => rows()[i] && rows()[i].querySelectorAll("td:last-child a"),
                                                     "the buttons of " + labels[i]);
                    const result = { study, list, href: view.getAttribute("href"), download: view.getAttribute("download") };
                    if (result.href === "#") {  // the view button shows the result in the content area
                        const before = contentView();
                        await click(view, "view " + labels[i]);
                        const shown = await until(contentView, "the view of " + labels[i]);
                        if (shown.tagName === "IFRAME") result.page = await shownPage(before);
                        else result.image = await shownImage();
                    }
                    await click(info, "information on " + labels[i]);
                    result.info = await until(() => panel().textContent.includes("Description") && navbar().innerText,
                                              "the caption of " + labels[i]);
                    seen.results[labels[i]] = result;
                    save();
                }
            }
        }
        // the state to screenshot: the figures of the study with the most of them, its first figure shown
        const figures = (s) => (seen.studies[s].Figures || []).length;
        const study = seen.menu.reduce((a, b) => (figures(b) > figures(a) ? b : a));
        await openList(study, "Figures");
        await click(await until(() => rows()[0] && rows()[0].querySelector("td:last-child a"), "a figure"), "a figure");
        seen.shown = { study, label: text(rows()[0].querySelector("td")), image: await shownImage() };
        seen.done = true;
    } catch (err) {
        seen.errors.push(String(err && err.stack || err));
    }
    save();
})();
