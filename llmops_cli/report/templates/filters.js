(function(){
var sels=[].slice.call(document.querySelectorAll('select[data-filter]')),shown=document.getElementById('shown');
function apply(){var f={};sels.forEach(function(s){f[s.getAttribute('data-filter')]=s.value;});var n=0,t=0;
[].forEach.call(document.querySelectorAll('[data-status]'),function(el){var d=el.dataset;
var ok=(!f.suite||d.suite===f.suite)&&(!f.model||d.model===f.model)&&(!f.tag||JSON.parse(d.tags).indexOf(f.tag)>=0)
&&(!f.status||d.status.split(' ').indexOf(f.status)>=0);el.hidden=!ok;if(el.tagName==='TR'){t++;if(ok)n++;}});
[].forEach.call(document.querySelectorAll('[data-scope]'),function(el){var d=el.dataset;
el.hidden=!!((f.suite&&d.suite!==f.suite)||(f.model&&d.model&&d.model!==f.model));});
[].forEach.call(document.querySelectorAll('[data-box]'),function(el){el.hidden=!el.querySelector('[data-status]:not([hidden])');});
shown.textContent=n+' of '+t+' cases shown';}
sels.forEach(function(s){s.addEventListener('change',apply);});apply();document.body.setAttribute('data-ready','1');
})();