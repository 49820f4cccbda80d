// Alarm tones through the Web Audio API, one pattern per IEC 60601-1-8 priority.
// Browsers start audio suspended until a user gesture: the board shows
// "Sound off — click to enable" until the context runs.

const PATTERNS = {
  // [pulse offsets in s], repeat interval in s, fundamental Hz
  high: { pulses: [0, 0.2, 0.4, 1.0, 1.2, 2.2, 2.4, 2.6, 3.2, 3.4], every: 8, freq: 880 },
  medium: { pulses: [0, 0.25, 0.5], every: 15, freq: 660 },
  low: { pulses: [0, 0.3], every: 30, freq: 520 },
};

export class AlarmSound {
  constructor(button) {
    this.button = button;
    this.enabled = false;
    this.ctx = null;
    this.lastPlayed = { high: 0, medium: 0, low: 0 };
    this.wanted = null;
    button.addEventListener("click", () => this.toggle());
    this.render();
  }

  async toggle() {
    if (this.enabled) {
      this.enabled = false;
      this.render();
      return;
    }
    try {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) throw new Error("no Web Audio");
      this.ctx = this.ctx || new Ctx();
      await this.ctx.resume();
      this.enabled = this.ctx.state === "running";
    } catch {
      this.enabled = false;
    }
    this.render();
  }

  render() {
    const b = this.button;
    b.setAttribute("aria-pressed", this.enabled ? "true" : "false");
    b.classList.toggle("sound-off", !this.enabled);
    b.classList.toggle("sound-on", this.enabled);
    b.replaceChildren();
    const icon = document.createElement("span");
    icon.className = "icon";
    icon.setAttribute("aria-hidden", "true");
    icon.textContent = "♪";
    b.append(icon, this.enabled ? " Sound on — click to mute" : " Sound off — click to enable");
  }

  // Called every second with the highest priority that should sound (or null).
  tick(priority) {
    if (!priority || !this.enabled || !this.ctx || this.ctx.state !== "running") return;
    const pattern = PATTERNS[priority];
    const now = performance.now() / 1000;
    if (now - this.lastPlayed[priority] < pattern.every) return;
    this.lastPlayed[priority] = now;
    const start = this.ctx.currentTime + 0.05;
    for (const offset of pattern.pulses) this.pulse(start + offset, pattern.freq);
  }

  pulse(at, freq) {
    const osc = this.ctx.createOscillator();
    const gain = this.ctx.createGain();
    osc.type = "square";
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0, at);
    gain.gain.linearRampToValueAtTime(0.15, at + 0.02);
    gain.gain.setValueAtTime(0.15, at + 0.13);
    gain.gain.linearRampToValueAtTime(0, at + 0.16);
    osc.connect(gain).connect(this.ctx.destination);
    osc.start(at);
    osc.stop(at + 0.18);
  }
}
