/* Draws figure specs (labbook.pages.plots: comparison_specs) with BokehJS's plotting API, in the
 * browser. The server only gathers what the jobs stored and describes each figure as plain JSON;
 * building Bokeh documents in the request was most of the comparison page's server time.
 *
 * Usage: <div data-plot="NAME"> elements, the specs in <script id="ID" type="application/json">
 * (Django's json_script), then LabbookFigures.draw("ID"). Every figure goes into one Bokeh document,
 * so sources shared between figures (the particles) link their selections. This follows
 * plots.render(), which draws the same specs on the server for the run and device pages.
 */
(function () {
  "use strict";
  const B = window.Bokeh;

  function field(name) {
    return { field: name };
  }

  function styleLegend(p, where, height) {
    const legend = p.legend;
    legend.click_policy = "hide";
    legend.label_text_font_size = "11px";
    legend.background_fill_alpha = 0.7;
    if (where === "below" || where === "below_horizontal" || where === "right") {
      p.center = p.center.filter((m) => m !== legend);
      p.add_layout(legend, where === "right" ? "right" : "below");
      if (where === "below") {
        p.height = height + 22 * legend.items.length;
      } else if (where === "below_horizontal") {
        legend.orientation = "horizontal";
      }
    } else {
      legend.location = where;
    }
  }

  function message(spec) {
    const p = B.Plotting.figure({ title: spec.title, width: spec.width, height: spec.height, tools: "" });
    p.add_layout(new B.Label({ x: 20, y: spec.height / 2 - 40, x_units: "screen", y_units: "screen",
                               text: spec.message, text_color: "#777" }));
    p.xaxis.visible = false;
    p.yaxis.visible = false;
    p.xgrid.visible = false;
    p.ygrid.visible = false;
    p.toolbar.logo = null;
    p.title.text_font_size = "13px";
    return p;
  }

  function range(r) {
    if (r == null) return undefined;
    if (Array.isArray(r)) return new B.Range1d({ start: r[0], end: r[1] });
    return new B.FactorRange({ factors: r.factors });
  }

  function figure(spec, shared) {
    if (spec.message) return message(spec);
    const attrs = { title: spec.title, width: spec.width, height: spec.height, tools: spec.tools,
                    x_axis_label: spec.x_label, y_axis_label: spec.y_label };
    if (spec.x_axis_type) attrs.x_axis_type = spec.x_axis_type;
    if (spec.y_axis_type) attrs.y_axis_type = spec.y_axis_type;
    if (spec.x_range != null) attrs.x_range = range(spec.x_range);
    if (spec.y_range != null) attrs.y_range = range(spec.y_range);
    const p = B.Plotting.figure(attrs);
    p.toolbar.logo = null;
    p.title.text_font_size = "13px";
    let legends = false;
    for (const g of spec.glyphs) {
      const source = g.source ? shared[g.source] : new B.ColumnDataSource({ data: g.data });
      const style = { source };
      if (g.legend != null) style.legend_label = g.legend;
      if (g.legend_field != null) style.legend_field = g.legend_field;
      legends = legends || g.legend != null || g.legend_field != null;
      style.color = g.color_field ? field(g.color_field) : g.color;
      for (const key of ["size", "alpha", "marker", "nonselection_alpha", "selection_line_color", "line_width"]) {
        if (g[key] != null) style[key] = g[key];
      }
      let r;
      if (g.kind === "scatter") {
        r = p.scatter({ x: field(g.x), y: field(g.y), ...style });
      } else if (g.kind === "line") {
        r = p.line({ x: field(g.x), y: field(g.y), line_dash: g.dash || "solid", ...style });
      } else {
        r = p.vbar({ x: field(g.x), bottom: field(g.bottom), top: field(g.top), width: g.width, ...style });
      }
      if (g.whisker) {
        const [base, lower, upper] = g.whisker;
        p.add_layout(new B.Whisker({ source, base: field(base), lower: field(lower), upper: field(upper),
                                     line_color: g.color }));
      }
      if (g.hover) p.add_tools(new B.HoverTool({ renderers: [r], tooltips: g.hover }));
    }
    if (spec.tap_url) {
      const tap = p.toolbar.tools.find((t) => t instanceof B.TapTool);
      if (tap) tap.callback = new B.OpenURL({ url: spec.tap_url });
    }
    for (const s of spec.spans) {
      p.add_layout(new B.Span({ location: s.location, dimension: s.dimension, line_color: s.color,
                                line_dash: s.dash || "solid", line_width: s.width || 1 }));
    }
    for (const l of spec.labels) {
      p.add_layout(new B.Label({ x: l.x, y: l.y, text: l.text, text_color: l.color, text_font_size: "11px",
                                 text_align: l.align || "left" }));
    }
    if (spec.note) {
      p.add_layout(new B.Label({ x: 8, y: 8, x_units: "screen", y_units: "screen", text: spec.note,
                                 text_color: "#b00", text_font_size: "11px", background_fill_color: "white",
                                 background_fill_alpha: 0.8 }));
    }
    if (spec.legend && legends) styleLegend(p, spec.legend, spec.height);
    return p;
  }

  async function draw(id) {
    const specs = JSON.parse(document.getElementById(id).textContent);
    const shared = {};
    for (const [name, data] of Object.entries(specs.sources || {})) {
      shared[name] = new B.ColumnDataSource({ data });
    }
    const doc = new B.Document();
    const targets = [];
    for (const [name, spec] of Object.entries(specs.figures)) {
      const el = document.querySelector(`[data-plot="${name}"]`);
      if (!el) continue;
      doc.add_root(figure(spec, shared));
      targets.push(el);
    }
    if (Array.isArray(B.documents)) B.documents.push(doc);
    await B.embed.add_document_standalone(doc, targets[0].parentElement, targets);
  }

  window.LabbookFigures = { draw };
})();
