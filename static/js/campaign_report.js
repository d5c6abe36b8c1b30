// A campaign's report (templates/campaigns/campaign_report.html): opens and clicks over time, drawn
// with the vendored Chart.js from the page's JSON data (the strict CSP keeps scripts out of the page).
document.addEventListener("DOMContentLoaded", () => {
  const canvas = document.getElementById("timeline-chart");
  const data = document.getElementById("timeline-data");
  if (!canvas || !data || !window.Chart) return;
  const points = JSON.parse(data.textContent);
  const label = (iso) => {
    const at = new Date(iso);
    return `${at.toLocaleDateString()} ${at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`;
  };
  const style = getComputedStyle(document.documentElement);
  new window.Chart(canvas, {
    type: "line",
    data: {
      labels: points.map((point) => label(point.at)),
      datasets: [
        { label: "Opens", data: points.map((point) => point.opens), borderColor: style.getPropertyValue("--brand").trim() || "#5b3df5", tension: 0.2 },
        { label: "Clicks", data: points.map((point) => point.clicks), borderColor: style.getPropertyValue("--ok").trim() || "#067647", tension: 0.2 },
      ],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
    },
  });
  canvas.dataset.drawn = "true";
});
