// capfast Notes: saves the note through the shell's capability bridge (window.CAP), when one is present.
"use strict";

async function loadCore() {
  try {
    const bytes = await (await fetch("../core/notes_core.wasm")).arrayBuffer();
    return (await WebAssembly.instantiate(bytes)).instance;
  } catch (e) {
    return null;
  }
}

async function save() {
  const text = document.getElementById("note").value;
  const status = document.getElementById("status");
  if (window.CAP && window.CAP.kv) {
    await window.CAP.kv.set("note", text);
    status.textContent = "saved (" + text.length + " characters)";
  } else {
    status.textContent = "no CAP shell: nothing saved";
  }
}

document.getElementById("save").addEventListener("click", save);
loadCore();
