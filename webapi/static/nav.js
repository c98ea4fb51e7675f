// The site's one navigation bar, for every page: fills <nav id="site-nav"> with the pages
// a visitor can go to, the current one marked. One list here, so a page that lands (Studio,
// Marketplace) is added once.

const PAGES = [
  { href: "/", label: "Puppet", title: "puppet your avatar live from your webcam", match: /^\/$/ },
  { href: "/create", label: "Create", title: "make an avatar from a photo", match: /^\/create/ },
  { href: "/preview", label: "Preview", title: "watch an animation with any outfit, no camera", match: /^\/preview/ },
  { href: "/studio/digi", label: "Studio", title: "edit the avatar's look, expressions, poses and animations", match: /^\/studio/ },
  { href: "/library", label: "My avatars", title: "the avatars you saved", match: /^\/library/ },
  { href: "/market", label: "Market", title: "outfits, dances, backgrounds and effects: try them on live", match: /^\/market/ },
];

const nav = document.getElementById("site-nav");
if (nav) {
  for (const page of PAGES) {
    const a = document.createElement("a");
    a.href = page.href;
    a.textContent = page.label;
    a.title = page.title;
    if (page.match.test(location.pathname)) a.setAttribute("aria-current", "page");
    nav.append(a);
  }
}
