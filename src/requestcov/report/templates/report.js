/* requestcov HTML report: table filters and the "requests that ran this line"
   panel. Builds every element with textContent, never from HTML strings, so
   test ids and paths stay text whatever they contain. */
(function () {
  "use strict";
  var SHOWN_AT_FIRST = 100;

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function setUpFilters() {
    var inputs = document.querySelectorAll("input[data-filter]");
    Array.prototype.forEach.call(inputs, function (input) {
      var table = document.getElementById(input.getAttribute("data-filter"));
      var counter = document.querySelector("[data-count-for='" + input.getAttribute("data-filter") + "']");
      if (!table) { return; }
      var rows = Array.prototype.slice.call(table.tBodies[0].rows);
      var texts = rows.map(function (row) { return row.textContent.toLowerCase(); });
      function apply() {
        var wanted = input.value.trim().toLowerCase();
        var shown = 0;
        rows.forEach(function (row, index) {
          var match = !wanted || texts[index].indexOf(wanted) !== -1;
          row.style.display = match ? "" : "none";
          if (match) { shown += 1; }
        });
        if (counter) { counter.textContent = shown + " of " + rows.length + " shown"; }
      }
      input.addEventListener("input", apply);
      apply();
    });
  }

  function setUpSourcePanel() {
    var dataNode = document.getElementById("line-data");
    var source = document.getElementById("source");
    var panel = document.getElementById("line-panel");
    if (!dataNode || !source || !panel) { return; }
    var data = JSON.parse(dataNode.textContent);
    var selected = null;

    function requestsOf(line) {
      var set = data.lines[String(line)];
      return set === undefined ? [] : data.sets[set];
    }

    function requestItem(index) {
      var request = data.requests[index];
      var item = element("li");
      var link = element("a", "test", request[0]);
      link.href = request[1];
      item.appendChild(link);
      var status = request[3] === null ? "" : " → " + request[3];
      item.appendChild(element("div", "endpoint", request[2] + status));
      return item;
    }

    function show(line) {
      var row = document.getElementById("L" + line);
      if (!row) { return; }
      if (selected) { selected.classList.remove("selected"); }
      selected = row;
      row.classList.add("selected");
      var members = requestsOf(line);
      panel.textContent = "";
      var heading = element("h3", "", "Line " + line + ": ran in " + members.length +
        (members.length === 1 ? " request" : " requests"));
      heading.id = "panel-heading";
      panel.appendChild(heading);
      if (!members.length) {
        var text = "This line is not a statement.";
        if (row.classList.contains("startup")) {
          text = "Only start-up code ran this statement (imports, definitions: code run outside any request).";
        } else if (row.classList.contains("miss")) {
          text = "Nothing ran this statement: no recorded request, and no start-up code.";
        }
        panel.appendChild(element("p", "muted", text));
        return;
      }
      var list = element("ol");
      list.id = "panel-requests";
      members.slice(0, SHOWN_AT_FIRST).forEach(function (index) { list.appendChild(requestItem(index)); });
      panel.appendChild(list);
      if (members.length > SHOWN_AT_FIRST) {
        var more = element("button", "", "Show all " + members.length);
        more.type = "button";
        more.addEventListener("click", function () {
          members.slice(SHOWN_AT_FIRST).forEach(function (index) { list.appendChild(requestItem(index)); });
          more.remove();
        });
        panel.appendChild(more);
      }
    }

    function lineOf(target) {
      var row = target.closest ? target.closest("tr[data-line]") : null;
      return row ? row.getAttribute("data-line") : null;
    }

    source.addEventListener("click", function (event) {
      var line = lineOf(event.target);
      if (line === null) { return; }
      if (event.target.tagName !== "A") { history.replaceState(null, "", "#L" + line); }
      show(line);
    });
    source.addEventListener("mouseover", function (event) {
      var line = lineOf(event.target);
      if (line === null) { return; }
      var row = document.getElementById("L" + line);
      if (row.hasAttribute("title")) { return; }
      var members = requestsOf(line);
      if (!members.length) { return; }
      var names = members.slice(0, 10).map(function (index) { return data.requests[index][0]; });
      row.title = members.length + (members.length === 1 ? " request: " : " requests: ") + names.join(", ") +
        (members.length > 10 ? ", …" : "");
    });
    window.addEventListener("hashchange", showFromHash);

    function showFromHash() {
      var match = /^#L(\d+)$/.exec(window.location.hash);
      if (match) { show(match[1]); }
    }
    showFromHash();
  }

  setUpFilters();
  setUpSourcePanel();
}());
