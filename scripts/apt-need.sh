# Sourced by the scripts here: `apt_need PKG...` installs the given Debian/Ubuntu packages (none
# when called with none), with sudo unless already root.
apt_need() {
  (($#)) || return 0
  echo "== apt-get install $*"
  local sudo
  sudo=$([ "$(id -u)" = 0 ] || echo sudo)
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "$@"
}
