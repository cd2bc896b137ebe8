// pitstore catalog: search as you type (an ARIA combobox) and copy buttons. No dependencies;
// every page works without this file (search then submits to /ui/search).
(function () {
  "use strict";

  var DELAY_MS = 80; // wait for a pause in typing before asking the server
  var LIMIT = 12;

  function setupSearch(form) {
    var input = form.querySelector('input[role="combobox"]');
    var list = form.querySelector('[role="listbox"]');
    var status = form.querySelector('[role="status"]');
    if (!input || !list) return;
    var active = -1;
    var timer = 0;
    var controller = null;
    var asked = null;

    function options() {
      return list.querySelectorAll('[role="option"]');
    }

    function show(open) {
      list.hidden = !open;
      input.setAttribute("aria-expanded", String(open));
      if (!open) select(-1);
    }

    function select(index) {
      var all = options();
      active = index;
      for (var i = 0; i < all.length; i++) {
        all[i].setAttribute("aria-selected", String(i === index));
      }
      if (index >= 0 && all[index]) {
        input.setAttribute("aria-activedescendant", all[index].id);
        all[index].scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function option(item, index) {
      var li = document.createElement("li");
      li.id = "search-option-" + index;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      li.dataset.url = item.url;
      var badge = document.createElement("span");
      badge.className = "badge kind-" + item.kind;
      badge.textContent = item.label;
      var name = document.createElement("strong");
      name.textContent = item.name;
      var detail = document.createElement("span");
      detail.className = "muted";
      detail.textContent = item.detail;
      li.append(badge, " ", name, " ", detail);
      if (item.description) {
        var desc = document.createElement("span");
        desc.className = "desc";
        desc.textContent = item.description;
        li.append(desc);
      }
      // mousedown, not click: the input's blur would close the list before a click lands.
      li.addEventListener("mousedown", function (event) {
        event.preventDefault();
        window.location.assign(item.url);
      });
      return li;
    }

    function render(query, results) {
      list.textContent = "";
      list.dataset.query = query; // which query the list answers (tests wait for it)
      results.forEach(function (item, i) {
        list.append(option(item, i));
      });
      if (!results.length) {
        var none = document.createElement("li");
        none.className = "none";
        none.textContent = "No matches. Press Enter for search tips.";
        list.append(none);
      }
      if (status) status.textContent = results.length + " results";
      show(true);
      select(-1);
    }

    function ask() {
      var query = input.value.trim();
      if (query === asked) return;
      asked = query;
      if (controller) controller.abort(); // only the latest query's answer matters
      if (!query) {
        list.textContent = "";
        show(false);
        return;
      }
      controller = new AbortController();
      var url = "/ui/api/search?limit=" + LIMIT + "&q=" + encodeURIComponent(query);
      fetch(url, { credentials: "same-origin", signal: controller.signal })
        .then(function (response) {
          if (response.status === 401) {
            window.location.assign("/ui/login?next=" + encodeURIComponent(location.pathname));
            return null;
          }
          return response.json();
        })
        .then(function (body) {
          if (body && body.query === input.value.trim()) render(body.query, body.results);
        })
        .catch(function () {}); // aborted or offline: the form still submits on Enter
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(ask, DELAY_MS);
    });

    input.addEventListener("keydown", function (event) {
      var count = options().length;
      if (event.key === "ArrowDown") {
        event.preventDefault();
        if (list.hidden && count) show(true);
        if (count) select(active + 1 >= count ? 0 : active + 1);
      } else if (event.key === "ArrowUp") {
        event.preventDefault();
        if (count) select(active <= 0 ? count - 1 : active - 1);
      } else if (event.key === "Enter") {
        var chosen = options()[active];
        if (!list.hidden && chosen) {
          event.preventDefault();
          window.location.assign(chosen.dataset.url);
        } // else the form submits: the full results page
      } else if (event.key === "Escape") {
        if (!list.hidden) {
          event.preventDefault();
          show(false);
        } else {
          input.value = "";
          asked = null;
        }
      }
    });

    input.addEventListener("blur", function () {
      show(false);
    });
    input.addEventListener("focus", function () {
      if (list.children.length && input.value.trim()) show(true);
    });
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain http on another host is not a secure context: the old way still works there.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.append(area);
    area.select();
    var ok = document.execCommand("copy");
    area.remove();
    return ok ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  function setupCopy(button) {
    button.addEventListener("click", function () {
      var code = document.getElementById(button.dataset.copy);
      if (!code) return;
      copy(code.textContent).then(
        function () {
          button.textContent = "Copied";
        },
        function () {
          button.textContent = "Select and copy";
        }
      );
      setTimeout(function () {
        button.textContent = "Copy";
      }, 2000);
    });
  }

  // "/" focuses the search box, as on many sites, unless the user is typing somewhere.
  document.addEventListener("keydown", function (event) {
    var tag = (event.target && event.target.tagName) || "";
    if (event.key === "/" && !/INPUT|TEXTAREA|SELECT/.test(tag)) {
      var box = document.getElementById("search-input");
      if (box) {
        event.preventDefault();
        box.focus();
      }
    }
  });

  document.querySelectorAll("form.search").forEach(setupSearch);
  document.querySelectorAll("button[data-copy]").forEach(setupCopy);
})();
