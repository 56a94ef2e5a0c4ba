// The reader's token: taken from the URL fragment (`#token=…`, which browsers never send to a server), kept in
// sessionStorage for the tab, and asked for when there is none or the server refused it.
const KEY = 'logfs-token'

/** The token in the fragment, moved to sessionStorage and out of the address bar (and so out of history). */
export function takeToken (): string | null {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash)
  if (m) {
    sessionStorage.setItem(KEY, decodeURIComponent(m[1]))
    history.replaceState(null, '', location.pathname + location.search)
  }
  return sessionStorage.getItem(KEY)
}

export function saveToken (token: string): void { sessionStorage.setItem(KEY, token) }

export function forgetToken (): void { sessionStorage.removeItem(KEY) }
